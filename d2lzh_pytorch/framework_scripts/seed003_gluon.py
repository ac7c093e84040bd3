# The original notes' seed 003 (MXNet Gluon), code cells in order. Changed:
# the import of gluonbook (d2l 1.0.3 plus a shim) and mx.gpu() (this machine
# has no GPU); each changed line has the original above it as "# seed 003: ...".
import sys
sys.path.append('../')

# seed 003: import gluonbook as gb
import gluonbook_shim as gb
import mxnet as mx
from mxnet import gluon,nd,autograd,init
from mxnet.gluon import nn,data as gdata,loss as gloss

#预测的时候使用移动平均估计来估算整个训练集的样本均值和方差
def batch_norm(X,gamma,beta,moving_mean, moving_var, eps, momentum):
    if not autograd.is_training():
        #如果是预测模式下，使用移动平均
        X_hat = (X-moving_mean)/nd.sqrt(moving_var+eps)
    else:
        assert len(X.shape) in (2,4)
        #使用全连接层的情况
        if len(X.shape)==2:
            mean = X.mean(axis = 0)
            var = ((X-mean)**2).mean(axis=0)
        else:
            #使用二维卷积的情况下，分别对通道维上（axis=1）上做均值和方差
            mean = X.mean(axis = (0,2,3),keepdims =True)
            var  = ((X-mean)**2).mean(axis=(0,2,3),keepdims = True)
        #训练模式下使用均值和方差做归一化
        X_hat = (X-mean)/nd.sqrt(var+eps)
        
        #更新移动方差的值
        moving_mean = momentum*moving_mean+(1.0-momentum)*mean
        moving_var = momentum*moving_var + (1.0-momentum)*var
    #这里使用了广播机制，不要考虑batch_size这一维度
    Y = gamma*X_hat+beta
    #print('gamma.shape',gamma.shape,'beta.shape',beta.shape,'X_hat.shape',X_hat.shape)
    return Y,moving_mean,moving_var

class BatchNorm(nn.Block):
    def __init__(self,num_features,num_dims,**kwarg):
        super(BatchNorm,self).__init__(**kwarg)
        if num_dims==2:
            shape =(1,num_features)
        else:
            shape = (1,num_features,1,1)
        
        self.gamma = self.params.get('gamma',shape=shape,init=init.One())
        self.beta = self.params.get('beta',shape=shape,init=init.Zero())
        # seed 003: self.moving_mean = nd.zeros(shape=shape,ctx=mx.gpu())
        self.moving_mean = nd.zeros(shape=shape,ctx=gb.try_gpu())
        # seed 003: self.moving_var = nd.zeros(shape=shape,ctx=mx.gpu())
        self.moving_var = nd.zeros(shape=shape,ctx=gb.try_gpu())
        
    def forward(self,X):
        #对输入进行批量归一化运算
        Y,self.moving_mean,self.moving_var = batch_norm(X,self.gamma.data(),self.beta.data(),
                                                        self.moving_mean,self.moving_var,eps=1e-5,momentum=0.9)
        return Y

# seed 003: X = nd.random.uniform(shape=(10,4,96,96),ctx=mx.gpu())
X = nd.random.uniform(shape=(10,4,96,96),ctx=gb.try_gpu())
bc = BatchNorm(X.shape[1],len(X.shape))
# seed 003: bc.initialize(ctx=mx.gpu())
bc.initialize(ctx=gb.try_gpu())

bc(X)

LeNet_BatchNorm = nn.Sequential()

LeNet_BatchNorm.add(nn.Conv2D(6,kernel_size=5),
                    BatchNorm(6,4),
                    nn.Activation('sigmoid'),
                    nn.MaxPool2D(pool_size=2,strides=2),
                    nn.Conv2D(16,kernel_size=5),
                    BatchNorm(16,4),
                    nn.Activation('sigmoid'),
                    nn.MaxPool2D(pool_size=2, strides=2),
                    nn.Dense(120),
                    BatchNorm(120, num_dims=2),
                    nn.Activation('sigmoid'),
                    nn.Dense(84),
                    BatchNorm(84, num_dims=2),
                    nn.Activation('sigmoid'),
                    nn.Dense(10)
                    )

lr,batch_size,num_epochs,ctx=1.0,256,10,gb.try_gpu()
# seed 003: LeNet_BatchNorm.initialize(init=init.Xavier(),ctx=mx.gpu(),force_reinit=True)
LeNet_BatchNorm.initialize(init=init.Xavier(),ctx=gb.try_gpu(),force_reinit=True)
trainer = gluon.Trainer(LeNet_BatchNorm.collect_params(),'sgd',{'learning_rate':lr})
train_iter,test_iter = gb.load_data_fashion_mnist(batch_size,resize=None)

gb.train_ch5(LeNet_BatchNorm,train_iter,test_iter,batch_size,trainer,ctx,num_epochs)

LeNet = nn.Sequential()

LeNet.add(nn.Conv2D(channels=6,kernel_size=5),
          nn.BatchNorm(),
          nn.Activation('sigmoid'),
          nn.MaxPool2D(pool_size=2,strides=2),
          nn.Conv2D(channels=16,kernel_size=5),
          nn.BatchNorm(),
          nn.Activation('sigmoid'),
          nn.MaxPool2D(pool_size=2,strides=2),
          nn.Dense(120),
          nn.BatchNorm(),
          nn.Activation('sigmoid'),
          nn.Dense(64),
          nn.BatchNorm(),
          nn.Activation('sigmoid'),
          nn.Dense(10)
        )

LeNet.initialize(init=init.Xavier(),ctx=ctx,force_reinit=True)
trainer = gluon.Trainer(LeNet.collect_params(),'sgd',{'learning_rate':lr})
gb.train_ch5(LeNet,train_iter,test_iter,batch_size,trainer,ctx,num_epochs)
